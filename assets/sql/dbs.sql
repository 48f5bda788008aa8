-- agent-gym embedded InterCode-SQL benchmark: three small databases.
-- Written for this project (not Spider data). MySQL dump format, so both the
-- MariaDB and SQLite backends load it through the same path as InterCode's dump.

CREATE DATABASE IF NOT EXISTS `library` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */;
USE `library`;

DROP TABLE IF EXISTS `author`;
CREATE TABLE `author` (
  `author_id` int NOT NULL,
  `name` varchar(80) NOT NULL,
  `country` varchar(40) DEFAULT NULL,
  `birth_year` int DEFAULT NULL,
  PRIMARY KEY (`author_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `author` WRITE;
INSERT INTO `author` VALUES (1,'Ada Okafor','Nigeria',1961),(2,'Bruno Lind','Sweden',1975),(3,'Chen Wei','China',1982),(4,'Dana Reyes','Mexico',1958),(5,'Elif Kaya','Turkey',1990),(6,'Farid Haddad','Lebanon',1969);
UNLOCK TABLES;

DROP TABLE IF EXISTS `book`;
CREATE TABLE `book` (
  `book_id` int NOT NULL,
  `title` varchar(120) NOT NULL,
  `author_id` int NOT NULL,
  `genre` varchar(30) DEFAULT NULL,
  `pages` int DEFAULT NULL,
  `published` int DEFAULT NULL,
  `price` double DEFAULT NULL,
  PRIMARY KEY (`book_id`),
  KEY `book_author` (`author_id`),
  CONSTRAINT `book_author` FOREIGN KEY (`author_id`) REFERENCES `author` (`author_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `book` WRITE;
INSERT INTO `book` VALUES (1,'River of Salt',1,'novel',312,1998,14.5),(2,'The Quiet Harbour',2,'novel',280,2004,12),(3,'Graphs for Gardeners',3,'science',190,2015,22.75),(4,'Salt and Smoke',1,'poetry',96,2001,9.99),(5,'Winter Ledger',2,'mystery',344,2010,15.25),(6,'Lanterns',4,'novel',410,1989,18),(7,'Small Machines',3,'science',230,2019,25),(8,'The Long Table',6,'history',520,2007,30.5),(9,'Cedar Letters',6,'poetry',88,2012,8.5),(10,'Night Market',5,'mystery',275,2021,13.99),(11,'Dust Roads',4,'history',365,1995,21),(12,'Paper Boats',5,'novel',198,2018,11.5);
UNLOCK TABLES;

DROP TABLE IF EXISTS `member`;
CREATE TABLE `member` (
  `member_id` int NOT NULL,
  `name` varchar(80) NOT NULL,
  `city` varchar(40) DEFAULT NULL,
  `joined` int DEFAULT NULL,
  PRIMARY KEY (`member_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `member` WRITE;
INSERT INTO `member` VALUES (1,'Greta Holm','Oslo',2016),(2,'Hiro Tanaka','Osaka',2019),(3,'Ines Duarte','Lisbon',2017),(4,'Jonas Berg','Oslo',2021),(5,'Kemi Adeyemi','Lagos',2018),(6,'Luis Ortega','Lisbon',2020),(7,'Mara Novak','Prague',2022);
UNLOCK TABLES;

DROP TABLE IF EXISTS `loan`;
CREATE TABLE `loan` (
  `loan_id` int NOT NULL,
  `book_id` int NOT NULL,
  `member_id` int NOT NULL,
  `loan_year` int NOT NULL,
  `returned` varchar(3) NOT NULL,
  PRIMARY KEY (`loan_id`),
  KEY `loan_book` (`book_id`),
  KEY `loan_member` (`member_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `loan` WRITE;
INSERT INTO `loan` VALUES (1,1,1,2020,'yes'),(2,3,1,2021,'yes'),(3,5,2,2021,'no'),(4,1,3,2022,'yes'),(5,8,3,2022,'yes'),(6,10,4,2023,'no'),(7,2,5,2022,'yes'),(8,1,5,2023,'no'),(9,7,6,2023,'yes'),(10,6,2,2020,'yes'),(11,12,7,2023,'no'),(12,3,6,2022,'yes'),(13,8,1,2023,'no'),(14,11,3,2021,'yes');
UNLOCK TABLES;

CREATE DATABASE IF NOT EXISTS `school` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */;
USE `school`;

DROP TABLE IF EXISTS `teacher`;
CREATE TABLE `teacher` (
  `teacher_id` int NOT NULL,
  `name` varchar(80) NOT NULL,
  `subject` varchar(40) NOT NULL,
  `salary` int DEFAULT NULL,
  PRIMARY KEY (`teacher_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `teacher` WRITE;
INSERT INTO `teacher` VALUES (1,'Nora Field','math',52000),(2,'Omar Said','physics',55000),(3,'Petra Kovac','history',48000),(4,'Quinn Adams','math',61000),(5,'Rosa Lima','art',45000);
UNLOCK TABLES;

DROP TABLE IF EXISTS `student`;
CREATE TABLE `student` (
  `student_id` int NOT NULL,
  `name` varchar(80) NOT NULL,
  `grade` int NOT NULL,
  `age` int DEFAULT NULL,
  PRIMARY KEY (`student_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `student` WRITE;
INSERT INTO `student` VALUES (1,'Ana Popa',10,15),(2,'Ben Carter',11,16),(3,'Cleo Martin',10,15),(4,'Dev Patel',12,17),(5,'Eva Stone',11,17),(6,'Finn Walsh',12,18),(7,'Gia Russo',10,16),(8,'Hugo Blanc',11,16);
UNLOCK TABLES;

DROP TABLE IF EXISTS `course`;
CREATE TABLE `course` (
  `course_id` int NOT NULL,
  `title` varchar(80) NOT NULL,
  `teacher_id` int NOT NULL,
  `credits` int NOT NULL,
  PRIMARY KEY (`course_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `course` WRITE;
INSERT INTO `course` VALUES (1,'Algebra',1,4),(2,'Geometry',4,3),(3,'Mechanics',2,4),(4,'World History',3,3),(5,'Drawing',5,2),(6,'Statistics',4,3);
UNLOCK TABLES;

DROP TABLE IF EXISTS `enrollment`;
CREATE TABLE `enrollment` (
  `student_id` int NOT NULL,
  `course_id` int NOT NULL,
  `score` int DEFAULT NULL,
  PRIMARY KEY (`student_id`,`course_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `enrollment` WRITE;
INSERT INTO `enrollment` VALUES (1,1,88),(1,4,75),(2,1,92),(2,3,81),(3,5,95),(3,2,70),(4,3,64),(4,6,89),(5,1,77),(5,6,91),(6,3,85),(6,4,58),(7,5,83),(8,2,90),(8,6,72);
UNLOCK TABLES;

CREATE DATABASE IF NOT EXISTS `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */;
USE `shop`;

DROP TABLE IF EXISTS `customer`;
CREATE TABLE `customer` (
  `customer_id` int NOT NULL,
  `name` varchar(80) NOT NULL,
  `country` varchar(40) NOT NULL,
  PRIMARY KEY (`customer_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `customer` WRITE;
INSERT INTO `customer` VALUES (1,'Arlo Shaw','Canada'),(2,'Bea Moreau','France'),(3,'Cai Lin','China'),(4,'Dara O\'Neill','Ireland'),(5,'Emil Sorensen','Denmark'),(6,'Fatima Zahra','Morocco');
UNLOCK TABLES;

DROP TABLE IF EXISTS `product`;
CREATE TABLE `product` (
  `product_id` int NOT NULL,
  `name` varchar(80) NOT NULL,
  `category` varchar(40) NOT NULL,
  `price` double NOT NULL,
  `stock` int NOT NULL,
  PRIMARY KEY (`product_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `product` WRITE;
INSERT INTO `product` VALUES (1,'Desk Lamp','home',24.5,40),(2,'Wool Scarf','clothing',19,120),(3,'Trail Shoes','clothing',89.9,35),(4,'Tea Kettle','home',32,18),(5,'Notebook','office',4.25,500),(6,'Fountain Pen','office',27.5,60),(7,'Rain Jacket','clothing',74,0),(8,'Cutting Board','home',15.75,75);
UNLOCK TABLES;

DROP TABLE IF EXISTS `orders`;
CREATE TABLE `orders` (
  `order_id` int NOT NULL,
  `customer_id` int NOT NULL,
  `product_id` int NOT NULL,
  `quantity` int NOT NULL,
  `order_year` int NOT NULL,
  PRIMARY KEY (`order_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

LOCK TABLES `orders` WRITE;
INSERT INTO `orders` VALUES (1,1,3,1,2022),(2,1,5,10,2022),(3,2,2,2,2022),(4,3,1,1,2023),(5,3,4,1,2023),(6,4,6,3,2023),(7,5,3,2,2023),(8,2,8,1,2024),(9,6,5,20,2024),(10,4,2,1,2024),(11,1,7,1,2024),(12,5,1,2,2024);
UNLOCK TABLES;
